/* Articulate's sketch page, dream.js: DeepDream the page's drawing toward the whole layer, a channel or a named
 * concept (POST /api/dream), as a job polled every POLL_MS (GET /api/jobs/<id>) with a progress bar and a
 * Cancel button (DELETE /api/jobs/<id>). The image (done, or cancelled with the image so far) shows beside the
 * drawing with its caption; errors go to the status line. K.dreaming keeps window.articulate.idle false. */
import { api, setStatus } from '../api.js';
import { $, h } from '../dom.js';
import { K } from './state.js';

const POLL_MS = 150;
const FINAL = new Set(['done', 'cancelled', 'failed']);
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** The "toward" choices: the whole layer, a channel, and the round's named concepts (none in round 0). */
export function renderDreamToward() {
  const select = $('dream-toward');
  const keep = select.value;
  const options = [['layer', 'the whole layer'], ['channel', 'a channel'],
    ...(K.layer ? K.layer.concepts : []).map((c) => [`concept:${c.id}`, `concept ${c.name}`])];
  select.replaceChildren(...options.map(([value, text]) => h('option', { value, text })));
  if (options.some(([value]) => value === keep)) select.value = keep;
  if (K.layer) $('dream-layer').placeholder = K.layer.layer; // empty: the atlas layer
  towardChanged();
}

function towardChanged() {
  $('dream-channel').disabled = $('dream-toward').value !== 'channel' || K.dreaming;
}

function whole(id, lo, hi, name) {
  const raw = $(id).value.trim();
  const value = Number(raw);
  if (raw === '' || !Number.isInteger(value) || value < lo || (hi !== null && value > hi)) {
    throw new Error(hi === null ? `${name}: give a whole number from ${lo}` : `${name}: give a whole number from ${lo} to ${hi}`);
  }
  return value;
}

/** The request's body from the panel (throws a sentence when a field is off). */
function dreamBody() {
  const body = { ...K.drawing, octaves: whole('dream-octaves', 1, 6, 'octaves'),
    steps: whole('dream-steps', 1, 100, 'steps') };
  const toward = $('dream-toward').value;
  if (toward === 'channel') body.channel = whole('dream-channel', 0, null, 'channel');
  else if (toward.startsWith('concept:')) body.concept = toward.slice('concept:'.length);
  const layer = $('dream-layer').value.trim();
  if (layer) body.layer = layer;
  return body;
}

function setControls(running) {
  $('dream').disabled = running;
  $('dream-cancel').disabled = !running;
  for (const id of ['dream-toward', 'dream-layer', 'dream-octaves', 'dream-steps']) $(id).disabled = running;
  towardChanged();
}

function showJob(job) {
  K.dream = job;
  const bar = $('dream-progress');
  bar.hidden = false;
  bar.value = Math.max(0, Math.min(1, Number(job.progress) || 0));
  bar.dataset.status = job.status;
  const state = $('dream-state');
  state.dataset.status = job.status;
  state.textContent = `${job.status} ${Math.round(100 * bar.value)}%`;
}

function showImage(result) {
  $('dream-image').src = result.image;
  $('dream-caption').textContent = result.what;
  $('dream-figure').hidden = false;
  $('drawing-pair').classList.add('dreamt');
}

async function cancelJob() {
  if (!K.dreaming) return;
  K.dreamCancel = true;
  $('dream-cancel').disabled = true;
  if (!K.dream || !K.dream.id || FINAL.has(K.dream.status)) return; // sent once the job has an id
  try {
    showJob(await api('DELETE', `/api/jobs/${K.dream.id}`));
  } catch (err) {
    setStatus(err.message, 'error');
  }
}

/** Start a dream and follow it to its end; answers the last job state (null when it could not start). */
export async function dream() {
  if (K.dreaming || !K.drawing) return null;
  let body;
  try {
    body = dreamBody();
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  }
  K.dreaming = true;
  K.dreamCancel = false;
  setControls(true);
  try {
    let job = await api('POST', '/api/dream', body);
    showJob(job);
    setStatus('Dreaming…', 'info');
    if (K.dreamCancel) await cancelJob();
    while (!FINAL.has(job.status)) {
      await sleep(POLL_MS);
      job = await api('GET', `/api/jobs/${job.id}`);
      showJob(job);
    }
    if (job.result && job.result.image) showImage(job.result);
    if (job.status === 'failed') setStatus(job.error || 'The dream failed.', 'error');
    else if (job.status === 'cancelled') {
      setStatus(`Dream cancelled${job.result ? `: ${job.result.what}, the image so far` : ''}.`, 'info');
    } else setStatus(`Dreamt ${job.result.what}.`, 'ok');
    return job;
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  } finally {
    K.dreaming = false;
    setControls(false);
  }
}

export function initDream() {
  $('dream-toward').addEventListener('change', towardChanged);
  $('dream').addEventListener('click', () => dream());
  $('dream-cancel').addEventListener('click', () => cancelJob());
  renderDreamToward();
  setControls(false);
}

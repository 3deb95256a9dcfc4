/* Articulate's sketch page, dream.js: DeepDream the page's drawing toward the whole layer, a channel, a named
 * concept, an atlas cluster's direction or a class's logit (POST /api/dream), as a job (shared/jobs.js) with a
 * progress bar and a Cancel button. As strokes (the default for sketch models) the dream keeps the drawing's own
 * strokes and adds a few: a drawing, shown beside the drawing on a canvas with the words of what it is, to trace
 * on the drawing page, open here or download; as pixels it is an image. The result (done, or cancelled with what
 * it has so far) shows with its caption; errors go to the status line. K.dreaming keeps window.articulate.idle
 * false. The panel's controls show K.dreaming and its progress bar K.dream (main.js subscribes them). */
import { setStatus } from '../shared/api.js';
import { $, h } from '../shared/dom.js';
import { followJob, showProgress } from '../shared/jobs.js';
import { openDrawing, showDrawn } from '../shared/strokes.js';
import { K, update, withinLimit } from './state.js';

// what each "toward" choice asks for beside it: its input (shown only for it)
const PARAMS = { channel: 'dream-channel', cluster: 'dream-cluster', class: 'dream-class' };
// the choices that live on the atlas layer: "layer" must be left out for them
const ATLAS_ONLY = (toward) => toward === 'cluster' || toward === 'class' || toward.startsWith('concept:');

/** The "toward" choices: the whole layer, a channel, an atlas cluster, a class, and the round's named concepts
 * (none in round 0); the class list is the model's (GET /api/coach). */
export function renderDreamToward() {
  const select = $('dream-toward');
  const keep = select.value;
  const options = [['layer', 'the whole layer'], ['channel', 'a channel'], ['cluster', 'an atlas cluster'],
    ['class', 'a class'],
    ...(K.layer ? K.layer.concepts : []).map((c) => [`concept:${c.id}`, `concept ${c.name}`])];
  select.replaceChildren(...options.map(([value, text]) => h('option', { value, text })));
  if (options.some(([value]) => value === keep)) select.value = keep;
  const classes = $('dream-class');
  if (K.coach && !classes.options.length) {
    classes.append(...K.coach.classes.map((name) => h('option', { value: name, text: name })));
  }
  if (K.layer && !classes.dataset.chosen) classes.value = K.layer.target; // what the drawing reads as, until chosen
  if (K.layer) $('dream-layer').placeholder = K.layer.layer; // empty: the atlas layer
  towardChanged();
}

/** Show the input of the chosen "toward" (channel, cluster, class); the layer only where it may be chosen. */
function towardChanged() {
  const toward = $('dream-toward').value;
  for (const [kind, id] of Object.entries(PARAMS)) {
    $(id).disabled = toward !== kind || K.dreaming;
    $(`${id}-label`).hidden = toward !== kind;
  }
  const layer = $('dream-layer');
  layer.disabled = ATLAS_ONLY(toward) || K.dreaming;
  layer.title = ATLAS_ONLY(toward) ? 'it lives on the atlas layer' : 'a module path; empty: the atlas layer';
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
  const body = { ...K.drawing, octaves: withinLimit('dream-octaves', 'dream_octaves', 'octaves'),
    steps: withinLimit('dream-steps', 'dream_steps', 'steps') };
  body.as = $('dream-as').value;
  const toward = $('dream-toward').value;
  if (toward === 'channel') body.channel = whole('dream-channel', 0, null, 'channel');
  else if (toward === 'cluster') body.cluster = whole('dream-cluster', 0, null, 'cluster');
  else if (toward === 'class') body.target_class = $('dream-class').value;
  else if (toward.startsWith('concept:')) body.concept = toward.slice('concept:'.length);
  const layer = $('dream-layer').value.trim();
  if (layer && !ATLAS_ONLY(toward)) body.layer = layer;
  return body;
}

/** The panel's controls while a dream runs (K.dreaming) or not. */
export function renderDreamControls() {
  const running = K.dreaming;
  $('dream').disabled = running;
  $('dream-cancel').disabled = !running;
  for (const id of ['dream-toward', 'dream-octaves', 'dream-steps', 'dream-as']) $(id).disabled = running;
  towardChanged();
}

/** The dream job's progress (K.dream). */
export function renderDreamJob() {
  showProgress($('dream-progress'), $('dream-state'), K.dream);
}

function showResult(result) {
  showDrawn('dream', result, result.what);
  $('dream-figure').hidden = false;
  $('drawing-pair').classList.add('dreamt');
  update({ dreamResult: result });
}

/** Take the dream shown (as strokes) to a page: '/draw' to trace it, '/sketch' to read and edit it. */
function openShown(page) {
  const shown = K.dreamResult;
  if (!shown || !shown.strokes) return;
  try {
    openDrawing(page, { strokes: shown.strokes, what: `the dream toward ${shown.what}`, caption: shown.explain });
  } catch (err) {
    setStatus(err.message, 'error');
  }
}

/** Cancel the running dream (once its job has an id). */
async function cancelDream() {
  if (!K.dreaming) return;
  $('dream-cancel').disabled = true;
  try {
    await K.dreamJob.cancel();
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
  update({ dreaming: true });
  setStatus('Dreaming…', 'info');
  try {
    update({ dreamJob: followJob('/api/dream', body, (job) => update({ dream: job })) });
    const job = await K.dreamJob.done;
    if (job.result && (job.result.image || job.result.strokes)) showResult(job.result);
    if (job.status === 'failed') setStatus(job.error || 'The dream failed.', 'error');
    else if (job.status === 'cancelled') {
      setStatus(`Dream cancelled${job.result ? `: ${job.result.what}, the image so far` : ''}.`, 'info');
    } else setStatus(`Dreamt ${job.result.what}.`, 'ok');
    return job;
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  } finally {
    update({ dreaming: false });
  }
}

export function initDream() {
  $('dream-toward').addEventListener('change', towardChanged);
  $('dream-class').addEventListener('change', () => { $('dream-class').dataset.chosen = 'true'; });
  $('dream').addEventListener('click', () => dream());
  $('dream-cancel').addEventListener('click', () => cancelDream());
  $('dream-trace').addEventListener('click', () => openShown('/draw'));
  $('dream-open').addEventListener('click', () => openShown('/sketch'));
  renderDreamToward();
  renderDreamControls();
}

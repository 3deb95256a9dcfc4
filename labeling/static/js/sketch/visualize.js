/* Articulate's sketch page, visualize.js: feature visualizations at the atlas layer (POST /api/visualize): what most
 * excites a named concept's direction, an atlas cluster's direction or one channel, optimised from scratch (it does
 * not depend on the drawing). As strokes (the default for sketch models) it is a drawing, shown on a canvas with
 * the words of what it is, to trace on the drawing page, open here as the drawing, or download as .ndjson; as
 * pixels it is an image. It runs as a job (jobs.js) with a progress bar and a Cancel button;
 * the server keeps each one per round, so asking again answers at once ("cached" in the caption). The buttons
 * that start one (.vis-btn: per concept in the surgery list, the open map in the editor, a cluster here) are
 * disabled while one runs; K.visualizing keeps window.articulate.idle false. The controls show K.visualizing and the
 * progress bar K.vis (main.js subscribes them). */
import { setStatus } from '../shared/api.js';
import { $ } from '../shared/dom.js';
import { followJob, showProgress } from '../shared/jobs.js';
import { openDrawing, showDrawn } from '../shared/strokes.js';
import { K, update, withinLimit } from './state.js';

/** The target in words, as the status says it before the server's caption is back. */
const named = (target) => (target.concept !== undefined ? `concept ${target.name || target.concept}`
  : target.cluster !== undefined ? `cluster ${target.cluster}` : `channel ${target.channel}`);

const steps = () => withinLimit('vis-steps', 'visualize_steps', 'visualization steps');

/** Enable or disable everything that starts a visualization (they are redrawn with the surgery list and editor). */
export function setVisControls() {
  const running = K.visualizing;
  for (const b of document.querySelectorAll('.vis-btn')) b.disabled = running;
  $('vis-steps').disabled = running;
  $('vis-cluster').disabled = running;
  $('vis-as').disabled = running;
  $('vis-cancel').disabled = !running;
}

/** The visualization job's progress (K.vis). */
export function renderVisJob() {
  showProgress($('vis-progress'), $('vis-state'), K.vis);
}

function showResult(result) {
  showDrawn('vis', result, `${result.what}${result.cached ? ' · cached' : ''}`);
  $('vis-figure').hidden = false;
  $('vis-empty').hidden = true;
  update({ visResult: result });
}

/** Take the visualization shown (as strokes) to a page: '/draw' to trace it, '/sketch' to read and edit it. */
function openShown(page) {
  const shown = K.visResult;
  if (!shown || !shown.strokes) return;
  try {
    openDrawing(page, { strokes: shown.strokes, what: shown.what, caption: shown.explain });
  } catch (err) {
    setStatus(err.message, 'error');
  }
}

/**
 * Visualize a target: {concept: id, name}, {cluster: k} or {channel: c}. Follows the job to its end and answers
 * its last state (null when it could not start or another visualization is running).
 */
export async function visualize(target) {
  if (K.visualizing) return null;
  const body = {};
  for (const key of ['concept', 'cluster', 'channel']) if (target[key] !== undefined) body[key] = target[key];
  body.as = target.as || $('vis-as').value;
  try {
    body.steps = steps();
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  }
  update({ visualizing: true });
  setStatus(`Visualizing ${named(target)}…`, 'info');
  try {
    update({ visJob: followJob('/api/visualize', body, (job) => update({ vis: job })) });
    const job = await K.visJob.done;
    if (job.result && (job.result.image || job.result.strokes)) showResult(job.result);
    if (job.status === 'failed') setStatus(job.error || 'The visualization failed.', 'error');
    else if (job.status === 'cancelled') {
      setStatus(`Visualization cancelled${job.result ? `: ${job.result.what}, the image so far` : ''}.`, 'info');
    } else setStatus(`Visualized ${job.result.what}${job.result.cached ? ' (kept from before)' : ''}.`, 'ok');
    return job;
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  } finally {
    update({ visualizing: false });
  }
}

async function cancelVis() {
  if (!K.visualizing) return;
  $('vis-cancel').disabled = true;
  try {
    await K.visJob.cancel();
  } catch (err) {
    setStatus(err.message, 'error');
  }
}

function visualizeCluster() {
  const raw = $('vis-cluster').value.trim();
  const cluster = Number(raw);
  if (raw === '' || !Number.isInteger(cluster) || cluster < 0) {
    setStatus('cluster: give a whole number from 0', 'error');
    return;
  }
  visualize({ cluster });
}

export function initVisualize() {
  $('vis-cluster-go').addEventListener('click', visualizeCluster);
  $('vis-cancel').addEventListener('click', () => cancelVis());
  $('vis-trace').addEventListener('click', () => openShown('/draw'));
  $('vis-open').addEventListener('click', () => openShown('/sketch'));
  setVisControls();
}

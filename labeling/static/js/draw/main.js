/* Articulate: the drawing coach's page (/draw). Draw on the pad; after every stroke (and, throttled, while a
 * stroke is drawn) the round's model says which classes it sees, how much of each part (concept) the drawing has
 * against a typical complete drawing of the class, what was just improved and what seems missing. The history
 * keeps what each stroke did; a replay runs the strokes again; an export downloads the drawing and that history;
 * talking back tells the concept store what a stroke or a region is (or is not).
 *
 * ES modules, loaded by draw.html (no build step), on the pages' shared/ modules (dom, api, palette, store, class bars):
 * state (the page's state), geometry (units, cells, picking), canvas (the pad: input and ink), heat (the layer
 * under the ink), feedback (the single-flight feedback client), bars, sentences, history (timeline and chart),
 * replay (replay and export), talkback, and this one, main.js (loading and wiring).
 *
 * A ghost (ghost.js) shows strokes to trace under the ink: a visualization or a dream handed over by the sketch page,
 * or what "show me" (showme.js) answered for a missing concept.
 *
 * Test hook: window.articulate (ready, idle, strokes, shown, replaying, history, answer, target, overlay, mode, pick, version,
 * latencies (ms from each finished stroke to its feedback on screen), ghost, timeline(), showMe(concept)).
 */
import { api, busy, idle, setStatus } from '../shared/api.js';
import { renderClassBars } from '../shared/classbars.js';
import { openDrawing } from '../shared/strokes.js';
import { $, h, withToken } from '../shared/dom.js';
import { buildConceptBars, renderConceptBars, renderHovered } from './bars.js';
import { initPad, renderInk } from './canvas.js';
import { hideGhost, initGhost, renderGhost } from './ghost.js';
import { entryBefore, feedbackIdle, onFeedback, reset, wantLive, wantStroke } from './feedback.js';
import { pointCount } from './geometry.js';
import { H, renderUnder } from './heat.js';
import { chartPending, describeEntry, renderTimeline, scheduleChart } from './history.js';
import { exportDrawing, onReplay, replay } from './replay.js';
import { onShowMe, renderSentences } from './sentences.js';
import { showMe } from './showme.js';
import { D, newKeyId, setCoach, subscribe, update } from './state.js';
import { initTalkback, loadStore, pickHooks, setMode, setPick, updateControls } from './talkback.js';

// The views, subscribed to what they show: the pad's ink (the strokes shown, the stroke in progress, the pick),
// the answer shown (the bars, the sentences, the layer under the ink and the reading), the layer under the ink
// (the concept hovered, the pick), the bar hovered.
subscribe(['shown', 'current', 'pick'], renderInk);
subscribe(['answer'], renderAnswer);
subscribe(['hover', 'pick'], renderUnder);
subscribe(['hover'], renderHovered);
subscribe(['ghost'], renderGhost);
subscribe(['showing'], () => renderSentences(D.answer));

let lastLive = 0;
let feedbackFailed = false; // the status shows a feedback error: the next answer puts the guidance back

window.articulate = {
  ready: false,
  get idle() { return feedbackIdle() && idle() && !D.replaying && !D.current && !chartPending() && !D.showing; },
  get strokes() { return D.strokes; },
  get shown() { return D.shown; },
  get replaying() { return D.replaying; },
  get history() { return D.history; },
  get answer() { return D.answer; },
  get target() { return D.target; },
  get overlay() { return H.shown; },
  get mode() { return D.mode; },
  get pick() { return D.pick; },
  get version() { return D.store.version; },
  get keyId() { return D.keyId; },
  get latencies() { return D.latencies; },
  get ghost() { return D.ghost; },
  showMe: (concept) => showMe(concept),
  timeline: () => D.history.map(describeEntry),
  replay: (animate = true) => replay({ animate }),
};

// ---------------------------------------------------------------- showing answers

/** Show an answer (null: none) in every view of it. */
function show(answer) {
  update({ answer });
}

function renderAnswer({ answer }) {
  renderClassBars(answer);
  renderConceptBars(answer);
  renderSentences(answer);
  renderUnder();
  $('reading').textContent = !answer ? '—'
    : answer.unsure && answer.chosen === 'model' ? 'not sure yet'
      : `${answer.target}${answer.chosen === 'model' ? ' (the model’s guess)' : ''}`;
  $('reading').dataset.unsure = String(Boolean(answer && answer.unsure));
}

function showHistory() {
  renderTimeline();
  scheduleChart();
}

function updateButtons() {
  const n = D.strokes.length;
  const locked = D.replaying;
  $('undo-stroke').disabled = locked || n === 0;
  $('clear').disabled = locked || n === 0;
  $('replay').disabled = locked || n === 0;
  $('export').disabled = locked || n === 0;
  $('open-editor').disabled = locked || n === 0;
  $('target').disabled = locked;
  $('talk').disabled = locked;
  $('stroke-count').textContent = String(n);
  $('pad-hint').hidden = n > 0 || Boolean(D.current);
  $('pad').dataset.replaying = String(locked);
  updateControls();
}

onFeedback({
  answer: (answer, kind) => {
    show(answer);
    if (kind === 'stroke') showHistory();
    if (feedbackFailed) {
      feedbackFailed = false;
      setStatus(guidance(), 'info');
    }
  },
  blank: () => show(null),
  error: (err) => {
    feedbackFailed = true;
    setStatus(err.message, 'error');
  },
});

onReplay({
  lock: () => updateButtons(),
  cleared: () => {
    show(null);
    showHistory();
  },
  done: () => updateButtons(),
});

function guidance() {
  const word = D.target ? `a ${D.target}` : 'anything';
  return `Draw ${word}: after every stroke the round ${D.coach.round} model says what it sees.`;
}

// ---------------------------------------------------------------- the pad

const drawHooks = {
  canStart: () => {
    if (D.replaying) return false;
    if (D.strokes.length >= D.coach.limits.max_strokes) {
      setStatus(`A drawing may have at most ${D.coach.limits.max_strokes} strokes: undo some or clear.`, 'error');
      return false;
    }
    if (!roomFor(1)) return false;
    $('pad-hint').hidden = true;
    return true;
  },
  roomFor,
  strokeMoved: () => {
    const now = performance.now();
    if (now - lastLive >= D.coach.throttle_ms) {
      lastLive = now;
      wantLive();
    }
  },
  strokeEnded: (stroke) => {
    update({ strokes: [...D.strokes, stroke], shown: D.strokes.length + 1 });
    updateButtons();
    wantStroke(D.shown);
  },
  resized: () => {
    renderUnder();
    renderGhost();
  },
  ...pickHooks,
};

function roomFor(extra) {
  const used = pointCount(D.strokes) + (D.current ? D.current[0].length : 0);
  if (used + extra <= D.coach.limits.max_points) return true;
  setStatus(`A drawing may have at most ${D.coach.limits.max_points} points: undo some strokes or clear.`, 'error');
  return false;
}

// ---------------------------------------------------------------- the buttons

function undoStroke() {
  if (!D.strokes.length || D.replaying) return;
  reset();
  const strokes = D.strokes.slice(0, -1);
  update({ strokes, shown: strokes.length, history: D.history.filter((e) => e.stroke <= strokes.length) });
  if (D.pick) setPick(null);
  updateButtons();
  showHistory();
  const entry = entryBefore(D.shown + 1);
  if (D.shown === 0) show(null);
  else if (entry && entry.stroke === D.shown) show(entry.answer);
  else wantStroke(D.shown);
}

function clearDrawing() {
  if (D.replaying) return;
  reset();
  update({ strokes: [], shown: 0, history: [], keyId: newKeyId() });
  if (D.pick) setPick(null);
  if (D.ghost && D.ghost.concept) hideGhost(); // "show me" strokes belong to the drawing they were found for
  updateButtons();
  show(null);
  showHistory();
  setStatus(guidance(), 'info');
}

async function changeTarget(ev) {
  update({ target: ev.target.value || null });
  setStatus(D.target ? `Reading your drawing as a ${D.target}.` : 'Reading your drawing as whatever the model thinks it is.',
    'info');
  if (D.strokes.length) await replay({ animate: false });
}

/** Hand the drawing over to the sketch page (sessionStorage) and open it there. */
function openInEditor() {
  if (!D.strokes.length || D.replaying) return;
  try {
    openDrawing('/sketch', { strokes: D.strokes });
  } catch (err) {
    setStatus(err.message, 'error');
  }
}

async function exportClicked() {
  const { files } = exportDrawing();
  setStatus(`Downloaded ${files.join(' and ')}.`, 'ok');
}

// ---------------------------------------------------------------- loading

/** Wait while the server prepares the coach (it starts building it with the server: the round's model and its
 * canon), showing how long it has taken; throws the reason when it cannot be built. */
async function coachReady() {
  for (;;) {
    const status = await api('GET', '/api/coach/status');
    if (status.state === 'failed') throw new Error(status.message);
    if (status.state !== 'preparing') return;
    $('status').dataset.preparing = 'true';
    setStatus(`${status.message[0].toUpperCase()}${status.message.slice(1)}…`, 'info');
    await new Promise((resolve) => { setTimeout(resolve, 500); });
  }
}

async function load() {
  $('atlas-link').href = withToken('/');
  $('sketch-link').href = withToken('/sketch');
  await busy(async () => {
    let coach;
    try {
      await coachReady();
      delete $('status').dataset.preparing;
      coach = await api('GET', '/api/coach');
    } catch (err) {
      setStatus(`The drawing coach is not available: ${err.message}`, 'error');
      window.articulate.failed = err.message;
      return;
    }
    setCoach(coach);
    update({ keyId: newKeyId() });
    $('round').textContent = String(coach.round);
    const select = $('target');
    select.append(...coach.classes.map((name) => h('option', { value: name, text: name })));
    buildConceptBars();
    initPad(drawHooks);
    initGhost();
    onShowMe(showMe);
    initTalkback();
    show(null);
    showHistory();
    updateButtons();
    try {
      await loadStore();
    } catch (err) {
      $('store-version').textContent = '—';
    }
    setStatus(guidance(), 'info');
    window.articulate.ready = true;
    document.body.dataset.ready = 'true';
  });
}

document.addEventListener('DOMContentLoaded', () => {
  const status = $('status');
  new MutationObserver(() => { status.title = status.textContent; }).observe(status, { childList: true, characterData: true, subtree: true });
  $('undo-stroke').addEventListener('click', undoStroke);
  $('clear').addEventListener('click', clearDrawing);
  $('replay').addEventListener('click', () => replay({ animate: true }));
  $('export').addEventListener('click', exportClicked);
  $('open-editor').addEventListener('click', openInEditor);
  $('target').addEventListener('change', changeTarget);
  document.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 'z' && !/^(INPUT|SELECT|TEXTAREA)$/.test(ev.target.tagName)) {
      ev.preventDefault();
      undoStroke();
    }
    if (ev.key === 'Escape' && D.mode === 'talk') setMode('draw');
  });
  load();
});

/* Articulate's drawing coach, showme.js: "show me". For a concept the coach says the drawing lacks, the server
 * optimises a few strokes added to the person's own drawing so that the concept rises where it belongs
 * (POST /api/showme, a job on shared/jobs.js), and the page shows them as a ghost to trace (D.ghost, ghost.js):
 * the drawing is unchanged until the person draws. D.showing is the request running (its concept and progress);
 * the missing sentence's button shows it, and every "Show me" button is off until it ends. */
import { setStatus } from '../shared/api.js';
import { followJob } from '../shared/jobs.js';
import { colourOfConcept, conceptName, D, update } from './state.js';

/** Ask for strokes that add `concept` to the drawing and show them as a ghost; answers the job's last state (null
 * when it could not start). */
export async function showMe(concept) {
  if (D.showing || D.replaying || !D.strokes.length) return null;
  const name = conceptName(concept);
  update({ showing: { concept, progress: 0 } });
  setStatus(`Looking for strokes that would add ${name}…`, 'info');
  try {
    const body = { strokes: D.strokes, concept, target: D.target };
    const shown = (state) => update({ showing: { concept, progress: state.progress } });
    const job = await followJob('/api/showme', body, shown).done;
    if (job.status === 'failed') setStatus(job.error || '“Show me” failed.', 'error');
    else if (job.status === 'done') {
      const { strokes, what, explain } = job.result;
      update({ ghost: { strokes, what, caption: explain, colour: colourOfConcept(concept), concept } });
      setStatus(`Trace the dashed strokes to add ${name}; they are not part of your drawing until you draw them.`,
        'ok');
    }
    return job;
  } catch (err) {
    setStatus(err.message, 'error');
    return null;
  } finally {
    update({ showing: null });
  }
}

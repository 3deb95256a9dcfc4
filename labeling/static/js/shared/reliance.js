/* Articulate's pages, shared/reliance.js: how much the round's model relies on a concept, in words (GET /api/reliance:
 * per concept, the accuracy each class loses when the concept is erased where it fires). Shared by the atlas
 * page's concept list and the sketch page's surgery list. */

/** Below this (a fraction of accuracy) a class loses nothing worth saying. */
const NOTHING = 0.0005;

/** An accuracy difference (a fraction) in percentage points: "12.5 pts". */
export const points = (d) => `${(100 * d).toFixed(1)} pts`;

/** The reliance entry of a concept ({id, name}): by id, else by name; null when the round has none for it. */
export function relianceOf(reliance, concept) {
  if (!reliance || !reliance.available) return null;
  return reliance.concepts.find((r) => r.id === concept.id)
    || reliance.concepts.find((r) => r.name === concept.name) || null;
}

/** Whether some class loses accuracy without the concept. */
export const relied = (r) => Boolean(r.worst_class) && r.max_drop > NOTHING;

/** The entry in a few words: "−12.5 pts on cat" (`on` = ' '+class alone where space is short), or none lost. */
export function relianceWords(r, short = false) {
  if (!relied(r)) return short ? 'not relied on' : 'no class relies on it';
  return `−${points(r.max_drop)}${short ? ' ' : ' on '}${r.worst_class}`;
}

/** The entry in a sentence, every class's drop included (a tooltip). */
export function relianceSentence(r, name, round) {
  const drops = Object.entries(r.drop).sort((a, b) => b[1] - a[1])
    .map(([cls, d]) => `${cls} ${points(d)}`).join(', ');
  const most = relied(r) ? `drops by ${points(r.max_drop)} on ${r.worst_class} (the most of any class)`
    : 'no class loses accuracy';
  return `without ${name}, round ${round}'s accuracy ${most}; every class: ${drops || 'none evaluated'}`;
}

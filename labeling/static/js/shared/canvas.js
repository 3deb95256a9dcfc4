/* Articulate's pages, shared/canvas.js: the drawing canvas every page draws on and reads pointers in. */

/** The Quick, Draw! canvas: drawing coordinates run 0..255 across and down. */
export const CANVAS_UNITS = 256;

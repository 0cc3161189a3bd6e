/** @typedef {readonly [number, number, number]} Color */

// A 3x5 pixel font: each glyph is 5 rows of 3 bits, top row first.
/** @type {Record<string, string>} */
const FONT = {
  0: "111101101101111",
  1: "010110010010111",
  2: "111001111100111",
  3: "111001111001111",
  4: "101101111001001",
  5: "111100111001111",
  6: "111100111101111",
  7: "111001001001001",
  8: "111101111101111",
  9: "111101111001111",
  A: "010101111101101",
  B: "110101110101110",
  C: "011100100100011",
  D: "110101101101110",
  E: "111100110100111",
  F: "111100110100100",
  G: "011100101101011",
  H: "101101111101101",
  I: "111010010010111",
  J: "001001001101010",
  K: "101101110101101",
  L: "100100100100111",
  M: "101111111101101",
  N: "110101101101101",
  O: "010101101101010",
  P: "110101110100100",
  Q: "010101101110011",
  R: "110101110101101",
  S: "011100010001110",
  T: "111010010010010",
  U: "101101101101111",
  V: "101101101101010",
  W: "101101111111101",
  X: "101101010101101",
  Y: "101101010010010",
  Z: "111001010100111",
  ".": "000000000000010",
  "-": "000000111000000",
  ":": "000010000010000",
  "/": "001001010100100",
  "(": "010100100100010",
  ")": "010001001001010",
  ",": "000000000010100",
  " ": "000000000000000",
};

/** A tiny raster canvas (an RgbaImage for encodePng): pixels, lines and text, enough for a loss curve. */
export class Canvas {
  /**
   * @param {number} width
   * @param {number} height
   * @param {Color} [background]
   */
  constructor(width, height, background = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.pixels = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.pixels.set([...background, 255], i * 4);
  }

  /** @param {number} x @param {number} y @param {Color} color */
  set(x, y, color) {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.pixels.set(color, (y * this.width + x) * 4);
  }

  /** @param {number} x @param {number} y @param {number} w @param {number} h @param {Color} color */
  rect(x, y, w, h, color) {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, color);
  }

  /**
   * A line `thickness` pixels wide (square brush stepped along the segment).
   * @param {number} x0 @param {number} y0 @param {number} x1 @param {number} y1 @param {Color} color @param {number} [thickness]
   */
  line(x0, y0, x1, y1, color, thickness = 1) {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1) * 2;
    const r = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) this.set(x + dx, y + dy, color);
    }
  }

  /**
   * Text in the 3x5 font scaled by `scale` (letters are shown in upper case).
   * @param {number} x @param {number} y @param {string} text @param {Color} color @param {number} [scale]
   */
  text(x, y, text, color, scale = 2) {
    let cx = x;
    for (const ch of text.toUpperCase()) {
      const glyph = FONT[ch] ?? FONT[" "];
      for (let row = 0; row < 5; row++) {
        for (let col = 0; col < 3; col++)
          if (glyph[row * 3 + col] === "1") this.rect(cx + col * scale, y + row * scale, scale, scale, color);
      }
      cx += 4 * scale;
    }
  }

  /** @param {string} text @param {number} [scale] */
  static textWidth(text, scale = 2) {
    return Math.max(0, text.length * 4 * scale - scale);
  }
}

/** kvalues_iq4nl: the sixteen levels an IQ4_NL / IQ4_XS nibble stands for (here so the searches' module reads them without importing iq4.ts). */
export const IQ4_VALUES: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

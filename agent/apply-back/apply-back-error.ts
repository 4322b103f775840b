/** Why an apply-back request cannot be carried out (or undone) here, in a sentence for the person at the computer. */
export class ApplyBackError extends Error {}

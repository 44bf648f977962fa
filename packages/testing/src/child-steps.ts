/**
 * The name prefix of the steps through which a parent run waits for a child run. Such a
 * step stays open while the child runs, and the child is judged on its own.
 */
export const childStepPrefix = 'cairn:child:';

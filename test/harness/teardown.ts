/** The part of a tap Test the harnesses need: a place to register clean-up. bench/teardown.ts implements it too. */
export interface Teardownable {
  teardown(fn: () => unknown): void;
}

import { Rng, type RngState } from "../rng";

/**
 * Where the data stream stands: the epoch, the next index into that epoch's permutation, and the RNG
 * state from which that permutation was drawn. Enough to rebuild the exact same order on resume.
 */
export interface SamplerState {
  epoch: number;
  cursor: number;
  epochRng: RngState;
}

/**
 * An endless stream of example indices: each epoch is a fresh seeded permutation of 0..n-1 (or the
 * identity when `shuffle` is false). A batch may span an epoch boundary; nothing is dropped.
 *
 * @example
 * const s = new EpochSampler(4, 7);
 * s.next(3); // e.g. [2, 0, 3]
 * const saved = s.state();
 * s.next(3);                                     // [1, …next epoch…]
 * EpochSampler.fromState(4, 7, saved).next(3);   // the same three indices
 */
export class EpochSampler {
  private rng: Rng;
  private epochRng: RngState;
  private perm: number[];
  epoch = 0;
  cursor = 0;

  constructor(readonly size: number, seed: number, readonly shuffle = true) {
    if (!Number.isInteger(size) || size <= 0) throw new Error(`EpochSampler: dataset size must be > 0, got ${size}`);
    this.rng = new Rng(seed);
    this.epochRng = this.rng.state();
    this.perm = this.draw();
  }

  static fromState(size: number, seed: number, state: SamplerState, shuffle = true): EpochSampler {
    const s = new EpochSampler(size, seed, shuffle);
    s.rng = Rng.fromState(state.epochRng);
    s.epochRng = state.epochRng;
    s.perm = s.draw();
    s.epoch = state.epoch;
    s.cursor = state.cursor;
    if (s.cursor < 0 || s.cursor > size) throw new Error(`EpochSampler: cursor ${s.cursor} out of range for size ${size}`);
    return s;
  }

  private draw(): number[] {
    return this.shuffle ? this.rng.permutation(this.size) : Array.from({ length: this.size }, (_, i) => i);
  }

  state(): SamplerState {
    return { epoch: this.epoch, cursor: this.cursor, epochRng: [...this.epochRng] as RngState };
  }

  /** The next `k` indices. */
  next(k: number): number[] {
    const out: number[] = [];
    while (out.length < k) {
      if (this.cursor >= this.size) {
        this.epoch++;
        this.cursor = 0;
        this.epochRng = this.rng.state();
        this.perm = this.draw();
      }
      out.push(this.perm[this.cursor++]);
    }
    return out;
  }
}

/** Small deterministic PRNG (xorshift32): a run is reproducible from its logged seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** 0 <= n < max */
  below(max: number): number {
    return max <= 0 ? 0 : this.u32() % max;
  }
  chance(oneIn: number): boolean {
    return this.below(oneIn) === 0;
  }
}

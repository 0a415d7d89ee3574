import type { Clock } from '../../src/domain/kernel/clock.js';

/** Real time plus an offset that tests move forward instead of waiting. */
export class FakeClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}

import { Clock } from '@ibhq/core';

/** A clock that stays where a test puts it (`ms`, settable). */
export class FixedClock extends Clock {
  constructor(public ms: number) {
    super();
  }
  override now(): Date {
    return new Date(this.ms);
  }
  override nowMs(): number {
    return this.ms;
  }
}

import { Injectable } from '@nestjs/common';

/** The time, behind an injectable class so that tests can move it. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }

  nowMs(): number {
    return Date.now();
  }
}

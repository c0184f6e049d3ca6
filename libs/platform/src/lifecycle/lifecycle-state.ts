import { Injectable } from '@nestjs/common';

/** Process-wide lifecycle flags that readiness and long-lived responses consult. */
@Injectable()
export class LifecycleState {
  private draining = false;

  get shuttingDown(): boolean {
    return this.draining;
  }

  beginShutdown(): void {
    this.draining = true;
  }
}

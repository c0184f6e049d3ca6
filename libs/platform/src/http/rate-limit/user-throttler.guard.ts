import { Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import type { ExecutionContext } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import type { Response } from 'express';
import type { Counter } from 'prom-client';
import { RATE_LIMIT_REJECTIONS } from '../../observability/metrics/metric-names';

/**
 * Keys limits by authenticated user, falling back to the client IP for anonymous calls. Must run
 * after the JWT guard (register it after it) so `req.user` is known.
 */
@Injectable()
export class UserThrottlerGuard extends ThrottlerGuard {
  @InjectMetric(RATE_LIMIT_REJECTIONS)
  private readonly rejections!: Counter<string>;

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    const userId = (req.user as { id?: string } | undefined)?.id;
    return userId ? `user:${userId}` : `ip:${req.ip as string}`;
  }

  /** The general budget is one per caller across routes; the auth budget is per route. */
  protected override generateKey(context: ExecutionContext, tracker: string, name: string): string {
    return name === 'default' ? `${name}:${tracker}` : super.generateKey(context, tracker, name);
  }

  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    this.rejections.inc();
    // The library names the header after non-default throttlers (Retry-After-auth); clients and
    // proxies only understand the standard one.
    context
      .switchToHttp()
      .getResponse<Response>()
      .setHeader('Retry-After', String(detail.timeToBlockExpire));
    return super.throwThrottlingException(context, detail);
  }
}

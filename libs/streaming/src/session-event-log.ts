import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig, REDIS } from '@codelab/platform';

/** One entry of a session's event stream, as clients receive it. */
export interface StreamEntry {
  id: string;
  type: string;
  /** The JSON envelope {type, session_id, run_id, agent_id, ts, payload}. */
  data: string;
}

export interface Envelope {
  type: string;
  session_id: string;
  run_id: string | null;
  agent_id: string | null;
  ts: string;
  payload: Record<string, unknown>;
}

/** Stream ids are "ms-seq"; compares them numerically. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : (as ?? 0) - (bs ?? 0);
}

export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** Redis stream ids are two unsigned 64-bit integers. */
const U64_MAX = 2n ** 64n - 1n;

/**
 * The two parts of a stream id Redis could have issued ("ms-seq", each at most 2^64-1), exactly
 * (BigInt: 20-digit parts are beyond a double's precision); null for anything else. The format
 * alone is not enough: "99999999999999999999-0" matches it and Redis refuses it in XRANGE.
 */
export function parseStreamId(id: string): [bigint, bigint] | null {
  if (!STREAM_ID.test(id)) return null;
  const [ms, seq] = id.split('-').map(BigInt);
  return ms <= U64_MAX && seq <= U64_MAX ? [ms, seq] : null;
}

function compareParsed(a: [bigint, bigint], b: [bigint, bigint]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  return a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;
}

export function parseEntries(raw: [string, string[]][]): StreamEntry[] {
  return raw.map(([id, fields]) => {
    const map: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) map[fields[i]] = fields[i + 1];
    return { id, type: map.type ?? 'message', data: map.data ?? '{}' };
  });
}

/**
 * A Redis Stream per session: capped length, TTL refreshed on every append. Any process appends;
 * any API process reads, so a client sees events whichever process produced them.
 */
@Injectable()
export class SessionEventLog {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  key(sessionId: string): string {
    return `${this.config.redisKeyPrefix}events:session:${sessionId}`;
  }

  async append(envelope: Envelope): Promise<string> {
    const key = this.key(envelope.session_id);
    // A pipeline, not MULTI: the TTL refresh need not be atomic with the append.
    const [[, id]] = (await this.redis
      .pipeline()
      .xadd(
        key,
        'MAXLEN',
        String(this.config.streaming.maxLength),
        '*',
        'type',
        envelope.type,
        'data',
        JSON.stringify(envelope),
      )
      .pexpire(key, this.config.streaming.ttlMs)
      .exec()) as [[Error | null, string], [Error | null, number]];
    return id;
  }

  /** Entries after `afterId` (exclusive), oldest first. */
  async after(sessionId: string, afterId: string, count = 10_000): Promise<StreamEntry[]> {
    const raw = (await this.redis.xrange(
      this.key(sessionId),
      `(${afterId}`,
      '+',
      'COUNT',
      count,
    )) as [string, string[]][];
    return parseEntries(raw);
  }

  async all(sessionId: string): Promise<StreamEntry[]> {
    return parseEntries(
      (await this.redis.xrange(this.key(sessionId), '-', '+')) as [string, string[]][],
    );
  }

  async lastId(sessionId: string): Promise<string> {
    const [last] = (await this.redis.xrevrange(this.key(sessionId), '+', '-', 'COUNT', 1)) as [
      string,
      string[],
    ][];
    return last?.[0] ?? '0-0';
  }

  /**
   * Whether a client that last saw `lastEventId` can be served without a gap: the stream must
   * still exist and that id must lie within its retained entries. (Redis does not record ids
   * removed by MAXLEN trimming, so "older than the first entry" is treated as trimmed, or as
   * belonging to a stream that expired and was created anew; both mean resync.) An id newer than
   * the last entry was never issued by this stream (a forged or foreign id, or one from a stream
   * that expired and came back with an older clock): replaying "after" it would silently skip
   * everything, or make Redis refuse the range if it is past 64 bits, so it is a resync too.
   */
  async canResumeFrom(sessionId: string, lastEventId: string): Promise<boolean> {
    const seen = parseStreamId(lastEventId);
    if (!seen) return false;
    const key = this.key(sessionId);
    const [first, last] = (await Promise.all([
      this.redis.xrange(key, '-', '+', 'COUNT', 1),
      this.redis.xrevrange(key, '+', '-', 'COUNT', 1),
    ])) as [[string, string[]][], [string, string[]][]];
    const firstId = first[0]?.[0];
    const lastId = last[0]?.[0];
    if (firstId === undefined || lastId === undefined) return false;
    const oldest = parseStreamId(firstId);
    const newest = parseStreamId(lastId);
    return (
      oldest !== null &&
      newest !== null &&
      compareParsed(seen, oldest) >= 0 &&
      compareParsed(seen, newest) <= 0
    );
  }
}

import type { QueryResult } from '@mikro-orm/core';
import { EntityManager } from '@mikro-orm/postgresql';
import { decodeCreatedAtCursor, encodeCreatedAtCursor } from '@codelab/platform';
import {
  type MemoryItem,
  type MemoryPage,
  type MemoryRecord,
  type MemoryScope,
  type MemoryStore,
} from './memory-store';

interface Row {
  id: string;
  content: string;
  metadata: Record<string, unknown> | string;
  created_at: Date | string;
  score?: number | string;
}

/** A PostgreSQL array literal: MikroORM would expand a JS array into a parameter list. */
const vectorLiteral = (vector: number[]) =>
  `{${vector.map((v) => (Number.isFinite(v) ? v : 0)).join(',')}}`;

const toItem = (row: Row): MemoryItem => ({
  id: row.id,
  content: row.content,
  metadata:
    typeof row.metadata === 'string'
      ? (JSON.parse(row.metadata) as Record<string, unknown>)
      : row.metadata,
  createdAt: new Date(row.created_at),
  ...(row.score !== undefined ? { score: Number(row.score) } : {}),
});

/**
 * Memories in PostgreSQL with exact cosine search: vectors are L2-normalised, so the score is
 * the dot product, computed over the agent's rows only (owner AND agent in every WHERE clause).
 * Exact search is linear in one agent's memory, which is what a personal platform holds.
 */
export class PgMemoryStore implements MemoryStore {
  readonly kind = 'postgres' as const;
  constructor(private readonly em: EntityManager) {}

  private get conn() {
    return this.em.getConnection();
  }

  async upsert(records: MemoryRecord[]): Promise<void> {
    for (const r of records) {
      await this.conn.execute(
        `insert into agent_memories (id, owner_id, project_id, agent_id, content, metadata, embedding_model, embedding, created_at)
         values (?, ?, ?, ?, ?, ?::jsonb, ?, ?::real[], ?)
         on conflict (id) do update set content = excluded.content, metadata = excluded.metadata,
           embedding_model = excluded.embedding_model, embedding = excluded.embedding
         where agent_memories.owner_id = excluded.owner_id and agent_memories.agent_id = excluded.agent_id`,
        [
          r.id,
          r.ownerId,
          r.projectId,
          r.agentId,
          r.content,
          JSON.stringify(r.metadata),
          r.embeddingModel,
          vectorLiteral(r.embedding),
          r.createdAt,
        ],
      );
    }
  }

  async search(
    scope: MemoryScope,
    vector: number[],
    embeddingModel: string,
    limit: number,
    minScore = 0,
  ): Promise<MemoryItem[]> {
    const rows = await this.conn.execute<Row[]>(
      `select id, content, metadata, created_at, score from (
         select id, content, metadata, created_at,
                (select sum(a * b) from unnest(embedding, ?::real[]) as v(a, b)) as score
         from agent_memories
         where owner_id = ? and agent_id = ? and embedding_model = ?
       ) scored
       where score >= ?
       order by score desc, created_at desc, id desc
       limit ?`,
      [vectorLiteral(vector), scope.ownerId, scope.agentId, embeddingModel, minScore, limit],
    );
    return rows.map(toItem);
  }

  async list(scope: MemoryScope, limit: number, cursor?: string): Promise<MemoryPage> {
    const params: unknown[] = [scope.ownerId, scope.agentId];
    let after = '';
    if (cursor) {
      const c = decodeCreatedAtCursor(cursor);
      after = 'and (created_at, id) < (?, ?)';
      params.push(c.createdAt, c.id);
    }
    params.push(limit + 1);
    const rows = await this.conn.execute<Row[]>(
      `select id, content, metadata, created_at from agent_memories
       where owner_id = ? and agent_id = ? ${after}
       order by created_at desc, id desc limit ?`,
      params,
    );
    const items = rows.slice(0, limit).map(toItem);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCreatedAtCursor(last) : null };
  }

  async delete(scope: MemoryScope, id: string): Promise<boolean> {
    const res = await this.conn.execute<QueryResult>(
      'delete from agent_memories where id = ? and owner_id = ? and agent_id = ?',
      [id, scope.ownerId, scope.agentId],
      'run',
    );
    return res.affectedRows > 0;
  }

  async deleteByAgent(scope: MemoryScope): Promise<number> {
    const res = await this.conn.execute<QueryResult>(
      'delete from agent_memories where owner_id = ? and agent_id = ?',
      [scope.ownerId, scope.agentId],
      'run',
    );
    return res.affectedRows;
  }

  async deleteByProject(ownerId: string, projectId: string): Promise<number> {
    const res = await this.conn.execute<QueryResult>(
      'delete from agent_memories where owner_id = ? and project_id = ?',
      [ownerId, projectId],
      'run',
    );
    return res.affectedRows;
  }

  async ping(): Promise<void> {
    await this.conn.execute('select 1');
  }
}

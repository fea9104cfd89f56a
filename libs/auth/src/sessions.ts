import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { type Actor, AppConfig, Clock } from '@ibhq/core';
import { RedisConnection } from '@ibhq/redis';
import type { Role } from './permissions.js';

/** What a session knows; it is stored in Redis under the hash of its token. */
export interface Session {
  /** Public id (for lists and revocation); the token itself is never stored. */
  readonly id: string;
  readonly userId: string;
  /** The tenant chosen for this session, with the role held in it. */
  readonly tenantId: string | null;
  readonly role: Role | null;
  /** Passed the second factor (or the user has none). */
  readonly mfa: boolean;
  /** Set on IBHQ staff's break-glass sessions. */
  readonly staffReason?: string;
  readonly createdAt: string;
  /** Set on sessions of a fixed lifetime (staff): use does not extend them. */
  readonly expiresAt?: string;
  readonly ip?: string;
  readonly userAgent?: string;
}

/** Who acts through a session: its user, as IBHQ staff on a break-glass session. */
export function sessionActor(session: Session): Actor {
  return { type: session.staffReason === undefined ? 'user' : 'staff', id: session.userId };
}

export type NewSession = Omit<Session, 'id' | 'createdAt' | 'expiresAt'>;

const TOKEN_PREFIX = 'ibhq_s_';
const TOKEN = /^ibhq_s_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * Sessions: opaque random tokens (`ibhq_s_` + 256 random bits), kept in Redis only as
 * the SHA-256 of the token, with a sliding time to live of at most 24 hours (every
 * use renews it), so Redis keeps no session longer than that after its last use.
 * Each user's sessions are indexed (a hash: session id -> token hash) for "list my
 * sessions", "log out everywhere" and for ending a removed member's sessions at once.
 * Redis unreachable: DEPENDENCY_UNAVAILABLE (503), never a hang.
 */
@Injectable()
export class SessionStore {
  private readonly ttl: number;
  /** Users whose session index this process renewed in the last minute. */
  private readonly indexRenewed = new LRUCache<string, true>({ max: 100_000, ttl: 60_000 });

  constructor(
    private readonly redis: RedisConnection,
    private readonly clock: Clock,
    config: AppConfig,
  ) {
    this.ttl = config.auth.sessionTtlSeconds;
  }

  get ttlSeconds(): number {
    return this.ttl;
  }

  /** Starts a session; the token is returned once and never stored. */
  async create(
    data: NewSession,
    ttlSeconds = this.ttl,
  ): Promise<{ token: string; session: Session }> {
    // Never longer than the configured lifetime (itself at most 24 h): the user's index
    // lives that long, and Redis keeps no session longer.
    const ttl = Math.min(ttlSeconds, this.ttl);
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const tokenHash = hashToken(token);
    const now = this.clock.now();
    const session: Session = {
      ...data,
      id: randomUUID(),
      createdAt: now.toISOString(),
      ...(ttlSeconds === this.ttl
        ? {}
        : { expiresAt: new Date(now.getTime() + ttl * 1000).toISOString() }),
    };
    await this.redis.call((redis) =>
      redis
        .multi()
        .set(this.sessionKey(tokenHash), JSON.stringify(session), 'EX', ttl)
        .hset(this.indexKey(session.userId), session.id, tokenHash)
        .expire(this.indexKey(session.userId), this.ttl)
        .exec(),
    );
    return { token, session };
  }

  /** The session of a token, renewing its time to live; null if unknown or expired. */
  async touch(token: string): Promise<Session | null> {
    if (!TOKEN.test(token)) return null;
    const raw = await this.redis.call((redis) =>
      redis.getex(this.sessionKey(hashToken(token)), 'EX', this.ttl),
    );
    if (raw === null) return null;
    const session = JSON.parse(raw) as Session;
    if (session.expiresAt !== undefined) {
      // A fixed-lifetime session: put back the end GETEX moved.
      const end = Math.floor(Date.parse(session.expiresAt) / 1000);
      await this.redis.call((redis) => redis.expireat(this.sessionKey(hashToken(token)), end));
    }
    // Keep the index at least as long as the session; nothing waits for it. Once a
    // minute per user and process is enough (its TTL is the session TTL), and saves
    // the hot path a second Redis write.
    if (!this.indexRenewed.has(session.userId)) {
      this.indexRenewed.set(session.userId, true);
      void this.redis.client
        .expire(this.indexKey(session.userId), this.ttl)
        .catch(() => this.indexRenewed.delete(session.userId));
    }
    return session;
  }

  async list(userId: string): Promise<Session[]> {
    const index = await this.redis.call((redis) => redis.hgetall(this.indexKey(userId)));
    const entries = Object.entries(index);
    if (entries.length === 0) return [];
    const raws = await this.redis.call((redis) =>
      redis.mget(...entries.map(([, tokenHash]) => this.sessionKey(tokenHash))),
    );
    const live: Session[] = [];
    const dead: string[] = [];
    entries.forEach(([sessionId], i) => {
      const raw = raws[i];
      if (raw === null || raw === undefined) dead.push(sessionId);
      else live.push(JSON.parse(raw) as Session);
    });
    if (dead.length > 0)
      await this.redis.call((redis) => redis.hdel(this.indexKey(userId), ...dead));
    return live.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Ends one session of the user; false if it was not theirs or already over. */
  async revoke(userId: string, sessionId: string): Promise<boolean> {
    const tokenHash = await this.redis.call((redis) =>
      redis.hget(this.indexKey(userId), sessionId),
    );
    if (tokenHash === null) return false;
    const results = await this.redis.call((redis) =>
      redis.multi().del(this.sessionKey(tokenHash)).hdel(this.indexKey(userId), sessionId).exec(),
    );
    return results?.[0]?.[1] === 1;
  }

  /** Ends the session of a token (logout). */
  async revokeToken(token: string): Promise<Session | null> {
    const session = await this.touch(token);
    if (session) await this.revoke(session.userId, session.id);
    return session;
  }

  /**
   * Ends the user's sessions that match `which` (all by default): "log out
   * everywhere", or the sessions in one tenant of a removed member. Returns how many.
   */
  async revokeWhere(userId: string, which: (s: Session) => boolean = () => true): Promise<number> {
    const sessions = (await this.list(userId)).filter(which);
    for (const s of sessions) await this.revoke(userId, s.id);
    return sessions.length;
  }

  /** Rewrites the role of the user's sessions in a tenant (a role change applies at once). */
  async updateRole(userId: string, tenantId: string, role: Role): Promise<void> {
    const index = await this.redis.call((redis) => redis.hgetall(this.indexKey(userId)));
    for (const tokenHash of Object.values(index)) {
      const key = this.sessionKey(tokenHash);
      const raw = await this.redis.call((redis) => redis.get(key));
      if (raw === null) continue;
      const session = JSON.parse(raw) as Session;
      if (session.tenantId !== tenantId || session.staffReason !== undefined) continue;
      // KEEPTTL: a role change does not extend the session.
      await this.redis.call((redis) =>
        redis.set(key, JSON.stringify({ ...session, role }), 'KEEPTTL', 'XX'),
      );
    }
  }

  /** Replaces a session's data (switching tenant, passing the second factor). */
  async update(token: string, patch: Partial<NewSession>): Promise<Session | null> {
    const key = this.sessionKey(hashToken(token));
    const raw = await this.redis.call((redis) => redis.get(key));
    if (raw === null) return null;
    const session = { ...(JSON.parse(raw) as Session), ...patch };
    const written = await this.redis.call((redis) =>
      redis.set(key, JSON.stringify(session), 'KEEPTTL', 'XX'),
    );
    // XX: null when the session ended in between; it is not brought back.
    return written === null ? null : session;
  }

  private sessionKey(tokenHash: string): string {
    return this.redis.key('session', tokenHash);
  }

  private indexKey(userId: string): string {
    return this.redis.key('user-sessions', userId);
  }
}

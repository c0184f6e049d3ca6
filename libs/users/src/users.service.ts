import { Injectable } from '@nestjs/common';
import { EntityManager, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import * as argon2 from 'argon2';
import { DomainError } from '@codelab/platform';
import { User } from './entities/user.entity';

export class EmailTakenError extends DomainError {
  readonly code = 'EMAIL_TAKEN';
  readonly kind = 'conflict' as const;
  constructor() {
    super('An account with this email already exists');
  }
}

// OWASP's argon2id baseline (19 MiB, 2 passes): strong enough, and a login stays well under 100 ms.
const HASH_OPTIONS = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** The users feature's public API: accounts and their credentials. */
@Injectable()
export class UsersService {
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly em: EntityManager) {}

  async register(email: string, password: string): Promise<User> {
    const user = new User();
    user.email = normaliseEmail(email);
    user.passwordHash = await argon2.hash(password, HASH_OPTIONS);
    try {
      await this.em.persist(user).flush();
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw new EmailTakenError();
      throw error;
    }
    return user;
  }

  /** The user when email and password match, else null; costs the same time either way. */
  async verifyCredentials(email: string, password: string): Promise<User | null> {
    const user = await this.em.findOne(User, { email: normaliseEmail(email) });
    if (!user) {
      // Hash anyway so response time does not reveal which emails have accounts.
      this.dummyHash ??= argon2.hash('not-a-real-password', HASH_OPTIONS);
      await argon2.verify(await this.dummyHash, password);
      return null;
    }
    return (await argon2.verify(user.passwordHash, password)) ? user : null;
  }

  async findById(id: string): Promise<User | null> {
    return this.em.findOne(User, { id });
  }
}

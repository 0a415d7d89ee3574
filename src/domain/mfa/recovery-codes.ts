import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { RecoveryCodeSchema } from '../../db/entities.js';
import { hashToken } from '../tokens/secrets.js';

const COUNT = 10;
// Crockford-style alphabet without look-alikes (no 0/O, 1/I/L, U).
const ALPHABET = '23456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 16 characters from a 30-letter alphabet: about 78 bits, in groups of four. */
function newCode(): string {
  const bytes = randomBytes(16);
  const letters = [...bytes].map((byte) => ALPHABET[byte % ALPHABET.length]).join('');
  return letters.match(/.{4}/g)!.join('-');
}

/** Dashes, spaces and case do not matter when a code is typed back. */
export const normaliseRecoveryCode = (code: string) => code.replace(/[\s-]/g, '').toUpperCase();

const hashCode = (code: string) => hashToken(`recovery:${normaliseRecoveryCode(code)}`);

/** Replaces the user's recovery codes with new ones; returns them (the only time they exist in clear). */
export async function replaceRecoveryCodes(em: EntityManager, userId: string, now: Date): Promise<string[]> {
  await em.nativeDelete(RecoveryCodeSchema, { userId });
  const codes = Array.from({ length: COUNT }, newCode);
  for (const code of codes) {
    em.create(RecoveryCodeSchema, { id: randomUUID(), userId, codeHash: hashCode(code), createdAt: now, usedAt: null });
  }
  await em.flush();
  return codes;
}

/** Spends a recovery code; true when it was one of the user's unused codes. Of concurrent uses, one wins. */
export async function spendRecoveryCode(em: EntityManager, userId: string, code: string, now: Date): Promise<boolean> {
  const spent = await em.nativeUpdate(RecoveryCodeSchema, { userId, codeHash: hashCode(code), usedAt: null }, { usedAt: now });
  return spent === 1;
}

export const remainingRecoveryCodes = (em: EntityManager, userId: string) => em.count(RecoveryCodeSchema, { userId, usedAt: null });

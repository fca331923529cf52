/**
 * `$private_ipv4`, `$public_ipv4`, `$private_ipv6`, `$public_ipv6` in string values: replaced by the given
 * addresses; `\$private_ipv4` (a backslash before the dollar) stands for the literal text `$private_ipv4`.
 */
import type { Substitutions } from './types.js';

export const SUBSTITUTION_VARIABLES = {
  private_ipv4: { option: 'privateIpv4', flag: '--private-ipv4', env: 'COREOS_PRIVATE_IPV4' },
  public_ipv4: { option: 'publicIpv4', flag: '--public-ipv4', env: 'COREOS_PUBLIC_IPV4' },
  private_ipv6: { option: 'privateIpv6', flag: '--private-ipv6', env: 'COREOS_PRIVATE_IPV6' },
  public_ipv6: { option: 'publicIpv6', flag: '--public-ipv6', env: 'COREOS_PUBLIC_IPV6' },
} as const satisfies Record<string, { option: keyof Substitutions; flag: string; env: string }>;

export type SubstitutionVariable = keyof typeof SUBSTITUTION_VARIABLES;

const PATTERN = /(\\?)\$(private_ipv4|public_ipv4|private_ipv6|public_ipv6)/g;

export interface SubstitutionResult {
  readonly text: string;
  /** Variables that occurred unescaped but had no value (they were replaced by ''). */
  readonly missing: readonly SubstitutionVariable[];
}

export function substitute(text: string, values: Substitutions): SubstitutionResult {
  const missing = new Set<SubstitutionVariable>();
  const out = text.replace(PATTERN, (_m, escape: string, name: SubstitutionVariable) => {
    if (escape) return `$${name}`;
    const v = values[SUBSTITUTION_VARIABLES[name].option];
    if (v === undefined || v === '') missing.add(name);
    return v ?? '';
  });
  return { text: out, missing: [...missing] };
}

/** Substitution values from `COREOS_*` environment variables (flags given on the command line win). */
export function substitutionsFromEnv(env: Readonly<Record<string, string | undefined>>): Substitutions {
  const out: { -readonly [K in keyof Substitutions]: string } = {};
  for (const spec of Object.values(SUBSTITUTION_VARIABLES)) {
    const v = env[spec.env];
    if (v !== undefined && v !== '') out[spec.option] = v;
  }
  return out;
}

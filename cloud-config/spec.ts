/** A small declarative description of a YAML document's expected shape, walked by walk.ts. */

/** An error message for a bad value, or `{ warning }` for a questionable one. */
export type Check = (value: string) => string | { readonly warning: string } | undefined;

interface Common {
  /** Warn (not fail) when the key is used. */
  readonly deprecated?: string;
}

export type Spec =
  | (Common & {
      readonly t: 'string';
      readonly oneOf?: readonly string[];
      /** A plain scalar that YAML reads as a number or boolean is taken as its text (`permissions: 0644`). */
      readonly literal?: boolean;
      /** The value must be a single line (environment values, names). */
      readonly singleLine?: boolean;
      readonly check?: Check;
    })
  /** Text, or bytes from a `!!binary` scalar. */
  | (Common & { readonly t: 'content' })
  | (Common & { readonly t: 'bool' })
  /** `check` gets the number as the text a drop-in would carry (String(n)). */
  | (Common & { readonly t: 'int'; readonly min?: number; readonly check?: Check })
  | (Common & { readonly t: 'float'; readonly min?: number; readonly check?: Check })
  | (Common & { readonly t: 'list'; readonly of: Spec })
  | (Common & {
      readonly t: 'map';
      readonly fields: Readonly<Record<string, Spec>>;
      readonly required?: readonly string[];
      /** Keys coreos-cloudinit knows but this implementation does not apply: warned about, then ignored. */
      readonly ignored?: Readonly<Record<string, string>>;
    });

export type MapSpec = Extract<Spec, { t: 'map' }>;

export const str = (extra: Omit<Extract<Spec, { t: 'string' }>, 't'> = {}): Spec => ({ t: 'string', ...extra });
export const bool = (extra: Common = {}): Spec => ({ t: 'bool', ...extra });
export const int = (min?: number): Spec => ({ t: 'int', ...(min !== undefined ? { min } : {}) });
export const float = (min?: number): Spec => ({ t: 'float', ...(min !== undefined ? { min } : {}) });
export const list = (of: Spec, extra: Common = {}): Spec => ({ t: 'list', of, ...extra });
export const map = (
  fields: Record<string, Spec>,
  extra: Omit<MapSpec, 't' | 'fields'> = {},
): MapSpec => ({ t: 'map', fields, ...extra });

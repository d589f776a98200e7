import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export type Checker<S extends TSchema> = {
  schema: S;
  /** The value, typed, or undefined when it does not match the schema. */
  parse(value: unknown): Static<S> | undefined;
};

/** Compiles a schema once (at module load), never per message. */
export function checker<S extends TSchema>(schema: S): Checker<S> {
  const compiled = TypeCompiler.Compile(schema);
  return { schema, parse: (value) => (compiled.Check(value) ? (value as Static<S>) : undefined) };
}

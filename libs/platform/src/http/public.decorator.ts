import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';

export const IS_PUBLIC_KEY = 'codelab:isPublic';

/** Opts a route or controller out of the global JWT guard (deny by default everywhere else). */
export const Public = () =>
  // The OpenAPI document says so too (`security: []`, set when the document is built).
  applyDecorators(SetMetadata(IS_PUBLIC_KEY, true), ApiExtension(PUBLIC_EXTENSION, true));

/** Marks public operations in the generated document until it is finished. */
export const PUBLIC_EXTENSION = 'x-codelab-public';

import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_KEY = 'codelab:isPublic';

/** Opts a route or controller out of the global JWT guard (deny by default everywhere else). */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);

/** Present at a prefix while a checkpoint is being published there (or after a publication was interrupted). */
export const PUBLISHING_MARKER = ".lethe-publishing";

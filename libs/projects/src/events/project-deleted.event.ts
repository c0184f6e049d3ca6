/** Domain event (durable, see DomainEvents): a project and everything it owned were deleted. */
export const PROJECT_DELETED = 'project.deleted';

export interface ProjectDeletedPayload {
  project_id: string;
  owner_id: string;
}

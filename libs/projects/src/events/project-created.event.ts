/** Published after the transaction that created the project has committed. */
export class ProjectCreatedEvent {
  constructor(
    readonly projectId: string,
    readonly ownerId: string,
  ) {}
}

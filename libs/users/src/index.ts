export { User } from './entities/user.entity';
export { UsersModule } from './users.module';
export { EmailTakenError, UsersService, normaliseEmail } from './users.service';

// The worker shares the API's entry point; APP_ROLE selects what boots.
process.env.APP_ROLE = 'worker';
import '../../api/src/main';

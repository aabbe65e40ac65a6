package failpoint

// EnvVar is gofail's environment variable that arms points when a
// failpoints build starts: "name=terms[;name=terms]…". Normal builds never
// read it.
const EnvVar = "GOFAIL_FAILPOINTS"

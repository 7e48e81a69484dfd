// Package layering checks, from the code's own imports, the project's layering rules: hub and
// spoke share only api/ and proto/, the contracts import no product code, and product code
// imports no test or tool code.
package layering

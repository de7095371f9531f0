"""Files in and out: photos, videos and sounds read (failing closed) and written anew, with
nothing of the source file carried over but what is meant to be (metadata stripped by format in
`strip/`, written atomically by `atomic`). Imports only blindspot's leaf modules (`errors`,
`progress`), never the stages that use it."""

# fish completion for mln-emit(1)
complete -c mln-emit -s h -l help -d 'Print a help message and exit'
complete -c mln-emit -s o -l output -r -F -d 'Write to FILE atomically instead of stdout'
complete -c mln-emit -s f -l force -d 'Write binary output even to a terminal'
complete -c mln-emit -s q -l quiet -d 'Print nothing but errors'
complete -c mln-emit -s v -l verbose -d 'Print more detail on stderr (repeatable)'
complete -c mln-emit -s T -l threads -x -a '0 1 2 4 8 16' -d 'Worker threads (0 = all cores)'
complete -c mln-emit -s V -l version -d 'Print the version and exit'

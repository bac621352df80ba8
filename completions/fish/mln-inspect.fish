# fish completion for mln-inspect(1)
complete -c mln-inspect -s h -l help -d 'Print a help message and exit'
complete -c mln-inspect -l json -d 'Print JSON (one document per input) instead of a table'
complete -c mln-inspect -s f -l force -d 'Write binary output even to a terminal'
complete -c mln-inspect -s q -l quiet -d 'Print nothing but errors'
complete -c mln-inspect -s v -l verbose -d 'Print more detail (repeatable)'
complete -c mln-inspect -s T -l threads -x -a '0 1 2 4 8 16' -d 'Worker threads (0 = all cores)'
complete -c mln-inspect -s V -l version -d 'Print the version and exit'

from tinn.cli import main

main()

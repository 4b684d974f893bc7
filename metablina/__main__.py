from metablina.cli import main

main()

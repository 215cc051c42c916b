from magicmarkup.cli import main

main()

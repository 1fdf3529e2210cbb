from concilium.cli import main

main()

from snakafka.cli import main

main()

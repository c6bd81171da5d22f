"""`python -m snakafka`: the same CLI as the `snakafka` console script."""

from snakafka.cli import main

if __name__ == "__main__":
    main(prog_name="snakafka")

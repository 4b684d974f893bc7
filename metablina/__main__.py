from metablina.cli import run

if __name__ == "__main__":  # not when a worker process imports the main module again
    run()

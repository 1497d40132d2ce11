"""`python -m esms_rules …` runs the esms-rules command line."""
from .cli import main

if __name__ == "__main__":
    main()

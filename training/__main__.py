try:
    from training.cli import main
except ModuleNotFoundError as missing:  # the service-only install (and image) leaves the training extra out
    raise SystemExit(f"python -m training: {missing.name} is missing: pip install 'aeserve[train]'") from None

main()

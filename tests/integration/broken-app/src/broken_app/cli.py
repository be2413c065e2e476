def main() -> int:
    print("broken-app works")
    return 0

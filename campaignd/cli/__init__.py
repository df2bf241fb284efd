"""The `campaignd` command: thin click commands over the use cases.

May import anything; only this package and daemon/ construct concrete stores and messengers.
"""

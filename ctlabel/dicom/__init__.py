"""Reading DICOM.

The header scan and its grouping into stacks, the fast header reader, validated header
values, pixel loading and runs of irregular stacks.

Nothing here knows a case folder; ``ctlabel.intake.convert`` turns stacks into cases.
"""

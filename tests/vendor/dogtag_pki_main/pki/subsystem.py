#
# Copyright Red Hat, Inc.
#
# SPDX-License-Identifier: GPL-2.0-or-later
#

class SubsystemClient:

    def __init__(self, parent, name):

        self.parent = parent
        self.name = name

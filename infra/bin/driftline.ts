#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { addDriftline } from '../lib/app';

const app = new App();
addDriftline(app);
app.synth();
